"""``tinygmm report``: model-selection and cluster report as one offline HTML page plus PNGs.

Modules: ``source`` (data, model, K sweep), ``plots`` (matplotlib/plotly figures),
``footprint`` (header constant sizes and memory estimates), ``html`` (the page),
``build`` (assembly and writing); the sub-command is ``tinygmm.cli.report``. From Python::

    from tinygmm.report import build, source
    src = source.from_data("data/customers.csv", ["Age", "Spending Score (1-100)"], False, FitOptions())
    build.write(build.build(src), "report")
"""
