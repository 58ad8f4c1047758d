"""``python -m renderq``: the same command as the ``renderq`` script."""

from renderq.cli.main import main

main()
