"""Sans-IO modules, one test file per module: no sockets, no threads of ours."""
