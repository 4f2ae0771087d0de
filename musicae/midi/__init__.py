"""MIDI files in and out: ``notes`` reads a file into quantised notes and writes notes back
(pretty_midi/mido), ``compiled`` reads many files fast through symusic's compiled parser."""
