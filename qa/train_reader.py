"""``python -m qa.train_reader``: an alias of ``python -m qa.train.reader``."""

from qa.train.reader import main

if __name__ == "__main__":
    raise SystemExit(main())
