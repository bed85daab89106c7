"""Publishing: the book build, the live page's files and the command line. The top layer."""
