"""The `pacer` command line: the headless engine (`--serve`), the API client and the image commands.

Nothing here imports Textual or Rich: only opening the console (cli/main.py, lazily) imports `tui`.
"""
