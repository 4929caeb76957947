"""Analysis: defender mentions, text normalisation, coordination networks and scored flags.

Entry point: ``analysis.engine.analyze(inp, params, previous) -> AnalysisResult``.
Input contract: `analysis.frames.AnalysisInput`; parameters: `analysis.params.AnalysisParams`;
results: `analysis.results` (JSON via ``AnalysisResult.to_dict()``); method and score formula:
the docstrings of `analysis.coordination` and `analysis.campaigns`.
"""
