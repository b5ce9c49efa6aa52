"""`dreamlite serve`: a web page and an HTTP API for generating and editing, in one local process.

app.py (routes) -> requests.py (checks every input at the edge) -> jobs.py (a queue and one worker per loaded
model, progress events, cancel) -> the same `DreamLite` pipeline as the CLI -> metadata.py (PNG parameters).
"""
