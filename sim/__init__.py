"""bubblesim: Monte Carlo simulation of AI-infrastructure boom-and-bust scenarios.

One module per stage of the data flow (docs/model.md, DESIGN): schema -> params -> model
(equations) -> kernel / reference (engine) -> analysis -> dataset -> io -> plots / report;
sweep and merge combine runs. Importing the package imports none of them, so reading and
plotting saved results never loads the engine.
"""
