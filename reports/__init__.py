"""Reports: the weekly PDF for analysts and the CSV/GEXF/JSON exports beside it."""
