from cfevents.cli import main

main()
