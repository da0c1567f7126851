"""``python -m qa.train_embedding``: an alias of ``python -m qa.train.embedding``."""

from qa.train.embedding import main

if __name__ == "__main__":
    raise SystemExit(main())
