from squall.cli.main import main

main()
