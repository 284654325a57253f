"""Records filed through the secure side, as the demo records connector keeps them."""
