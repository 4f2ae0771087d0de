"""What a person opens: ``render`` draws piano-roll pictures and writes WAVs, ``soundfont``
plays a General MIDI SoundFont (numpy) for those WAVs."""
