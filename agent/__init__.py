"""The agent: runs tasks on a render node and streams what they do to the controller."""
