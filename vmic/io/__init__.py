"""Sources and sinks: clips of frames in, WAV files out."""
