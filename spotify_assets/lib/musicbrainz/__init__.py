"""MusicBrainz: a polite ws/2 client (1 request/s across processes) and Spotify -> MBID matching."""
