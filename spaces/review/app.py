"""The sxhub review Space: people check the teacher's labels; decisions go to the dataset repo (see README.md)."""

from pathlib import Path

from sxhub_review.review_space import main

main(Path(__file__).resolve().parent)
