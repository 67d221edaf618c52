"""devstack plugin serving MySQL examples from one aiomysql pool per application."""
