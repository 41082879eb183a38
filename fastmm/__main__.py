from fastmm.cli import main

main()
