"""Speed benchmarks of moelogit's MM fit against its peers (see fit_speed.py)."""
