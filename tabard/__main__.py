from tabard.cli import main

main()
