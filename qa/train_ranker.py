"""``python -m qa.train_ranker``: an alias of ``python -m qa.train.ranker``."""

from qa.train.ranker import main

if __name__ == "__main__":
    raise SystemExit(main())
