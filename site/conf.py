# Sphinx configuration of the hivemind documentation site.
# `hivemind docs` (hivemind/site.py, from nbs/core/f_site.ipynb) copies this folder into a build folder, adds the pages
# (README as home page, the executed pipeline notebooks as chapters, the library notebooks as API pages, a figure
# gallery) and runs sphinx-build there. Every page must work offline: nothing here may load from another host.
from pathlib import Path

project = 'hivemind'
author = 'hivemind contributors'
html_title = 'hivemind'  # `hivemind docs` passes `-D html_title=...` naming the profile
root_doc = 'index'
exclude_patterns = ['_build', '**.ipynb_checkpoints']

extensions = ['myst_nb']
nb_execution_mode = 'off'  # the pipeline executed the chapters; the library notebooks are shown unexecuted
nb_ipywidgets_js = {}  # no require.js or widget manager from a CDN
nb_merge_streams = True
suppress_warnings = ['mystnb.unknown_mime_type', 'myst.header', 'misc.highlighting_failure']

# MathJax 3 from the npm package `mathjax`, copied into _static/mathjax by `hivemind docs`. Without it the maths
# stays TeX source: Sphinx's default would load MathJax from a CDN.
MATHJAX = (Path(__file__).parent/'_static'/'mathjax'/'tex-chtml.js').exists()
mathjax_path = 'mathjax/tex-chtml.js'
myst_enable_extensions = ['colon_fence'] + (['dollarmath', 'amsmath'] if MATHJAX else [])
myst_heading_anchors = 3

html_theme = 'sphinx_book_theme'
html_static_path = ['_static']
html_css_files = ['hivemind.css']
html_theme_options = {
    'show_toc_level': 2,
    'use_download_button': True,  # the page's notebook, as executed
    'use_fullscreen_button': False,
    'navigation_with_keys': False,
}
html_sidebars = {'**': ['navbar-logo.html', 'search-button-field.html', 'sbt-sidebar-nav.html']}
html_show_sourcelink = False
html_last_updated_fmt = None
