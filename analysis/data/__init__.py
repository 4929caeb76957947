"""Rule data for analysis.mentions: transliteration, Kazakh suffixes, Russian declension."""
