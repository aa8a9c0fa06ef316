"""newsmon benchmarks: run with `make bench` (python -m bench); they print figures, they do not assert."""
