"""A local emulator of Spotify (accounts + Web API) and MusicBrainz ws/2 over a synthetic world.

For tests, benchmarks and the demo only: pipeline code under `spotify_assets.lib` and
`spotify_assets.defs` must never import this package (its ground truth would leak into results).
"""
