# Terraform's AWS provider against Squall: a DynamoDB table with a stream and
# TTL, a Python Lambda function and an event source mapping from the stream.
# Squall does not serve IAM yet, so the role is an ARN string.
#
#   terraform init -plugin-dir=/opt/tf-plugins
#   terraform apply -var endpoint=http://127.0.0.1:4566 -var zip=function.zip

variable "endpoint" {
  type    = string
  default = "http://127.0.0.1:4566"
}

variable "zip" {
  type        = string
  description = "Path of the function's zip (handler.py with handler())."
  default     = "function.zip"
}

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    dynamodb = var.endpoint
    lambda   = var.endpoint
    sts      = var.endpoint
  }
}

resource "aws_dynamodb_table" "orders" {
  name             = "tf-orders"
  billing_mode     = "PAY_PER_REQUEST"
  hash_key         = "pk"
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
}

resource "aws_lambda_function" "on_order" {
  function_name    = "tf-on-order"
  role             = "arn:aws:iam::000000000000:role/lambda-role"
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = var.zip
  source_code_hash = filebase64sha256(var.zip)
  timeout          = 10
}

resource "aws_lambda_event_source_mapping" "orders_stream" {
  event_source_arn  = aws_dynamodb_table.orders.stream_arn
  function_name     = aws_lambda_function.on_order.arn
  starting_position = "LATEST"
  batch_size        = 10
}
