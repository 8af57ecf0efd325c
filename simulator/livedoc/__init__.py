"""Living documentation: the user stories as a static site, with the calls each scenario made.

`python -m simulator.livedoc` (`make docs`) joins the feature files with what the last acceptance
run recorded (simulator/harness/recording.py) and writes build/livedoc/. Test tooling: not part
of `rod serve`.
"""
