"""Reading Suricata EVE JSON files with bookmarks."""
