"""spanwatch sensors: the EVE reader, analyzers, capture adapters and sinks."""
