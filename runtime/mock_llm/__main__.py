import sys

from runtime.mock_llm.server import main

sys.exit(main())
