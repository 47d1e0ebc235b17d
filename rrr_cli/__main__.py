from rrr_cli.cli import main

main()
