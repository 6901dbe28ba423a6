"""The documentation site of a real smoke run (the session's `smoke` fixture): built, link-checked, and opened page by
page in headless Chromium with nothing allowed to leave the machine."""
import re
from pathlib import Path
import pytest
from hivemind.site import broken_links, build_site, check_site, chromium_path, remote_loads, site_pages


@pytest.fixture(scope='module')
def site(smoke):
    folder, first = smoke
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return build_site('smoke', folder/'runs', folder/'figures')


def listed_chapters(site):
    "The chapters, by file stem, in the order the home page's tables of contents list them"
    home = (site.out/'index.html').read_text()
    return list(dict.fromkeys(re.findall(r'href="chapters/(\d\d_\w+)\.html"', home)))


def test_site_shows_every_chapter_in_order_every_library_notebook_and_every_figure(site, smoke):
    folder, _ = smoke
    executed = sorted(p.stem for p in (folder/'runs'/'smoke'/'notebooks').glob('*.ipynb'))
    assert executed == sorted(p.stem for p in (Path(__file__).resolve().parents[1]/'nbs'/'pipeline').glob('[0-9][0-9]_*.ipynb'))
    assert listed_chapters(site) == executed
    assert (site.out/'api'/'core'/'f_site.html').exists() and (site.out/'api'/'core'/'a_config.html').exists()
    pngs = sorted(p.name for p in (folder/'figures'/'smoke').glob('*.png'))
    gallery = (site.out/'gallery.html').read_text()
    assert pngs and all(name[:-4] in gallery for name in pngs)
    assert gallery.count('<img') == len(pngs)


def test_chapters_show_what_the_pipeline_computed(site):
    chapter = (site.out/'chapters'/'04_intra_model.html').read_text()
    assert chapter.count('<img') >= 1  # the figures drawn when the pipeline executed the notebook


def test_site_builds_fast(site):
    assert site.seconds < 60, f"site build took {site.seconds:.1f} s"


def test_site_links_resolve_and_nothing_loads_from_another_host(site):
    assert len(site_pages(site.out)) >= 30
    assert broken_links(site.out) == []
    assert remote_loads(site.out) == []


def test_every_page_works_offline_in_headless_chromium(site):
    if chromium_path() is None:
        pytest.skip('Chromium is not installed: apt-get install -y chromium')
    check = check_site(site.out, site.out.parent/'site-screenshots', word='similarity')
    print(check.report())
    assert check.ok, check.report()
    assert check.pages == len(site_pages(site.out))
    assert check.images >= len(list((site.out/'_images').glob('*.png')))
    assert check.requests > check.pages and check.blocked == []
    assert [p.name for p in check.screenshots] == ['home.png', 'chapter.png', 'gallery.png']
    assert all(p.stat().st_size > 10_000 for p in check.screenshots)
