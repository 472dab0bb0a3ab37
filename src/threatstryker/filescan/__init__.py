"""What the file scanners (secrets, malware) share: the walk of a FileTree, archive expansion and the pool
that runs an engine on file contents in this process or in worker processes."""
