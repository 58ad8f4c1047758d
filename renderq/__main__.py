"""``python -m renderq``: the same command as the ``renderq`` script."""

from renderq.cli.main import main
from renderq.parent_watch import stop_with_parent

stop_with_parent()
main()
