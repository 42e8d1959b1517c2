"""Sans-IO modules, one test file per module: no servers, no threads of ours."""
