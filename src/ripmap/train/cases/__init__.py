"""Cases: what the trainer is judged on, mined from git history.

``oracle`` mines commits after a snapshot into cases of three tasks (a file in the chat;
that file plus the commit message; the message alone); ``snapshots`` makes the worktree
each case is ranked on; ``corpus`` says which repositories to mine; ``casefile`` is the
one on-disk format of mined cases.
"""
