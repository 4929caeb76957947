"""Analysis: defender mentions, text normalisation, coordination networks and scored flags."""
