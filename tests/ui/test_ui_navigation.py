"""Navigation per role: readable entities and the roles' dashboards, in the user's language."""
from __future__ import annotations

import re

from ui.navigation import build_navigation
from ui.services import build_services


def nav_entities(html: str) -> list[str]:
    nav = html[html.index('<nav id="site-nav"'):html.index("</nav>")]
    return re.findall(r'data-entity="([a-z_]+)"', nav)


def nav_links(html: str) -> list[str]:
    nav = html[html.index('<nav id="site-nav"'):html.index("</nav>")]
    return re.findall(r'<a href="([^"]+)"', nav)


def test_rep_sees_what_the_role_reads_but_not_line_entities(site):
    html = site.signed_in("anna").get("/").text
    assert nav_entities(html) == ["account", "deal"]          # deal_line lives inside deals
    assert "/dashboards/rep_board" in nav_links(html)
    assert "/dashboards/manager_board" not in nav_links(html)


def test_viewer_sees_only_products_and_no_dashboards(site):
    html = site.signed_in("vic").get("/").text
    assert nav_entities(html) == ["product"]
    assert not [link for link in nav_links(html) if link.startswith("/dashboards/")]


def test_several_roles_see_the_union(site):
    assert nav_entities(site.signed_in("both").get("/").text) == ["account", "deal", "product"]


def test_inherited_roles_see_their_own_and_their_parents_dashboards(site):
    links = nav_links(site.signed_in("mona").get("/").text)
    assert "/dashboards/manager_board" in links
    assert "/dashboards/rep_board" not in links      # names 'rep', not 'manager'


def test_admins_see_everything(site):
    html = site.signed_in("root").get("/").text
    assert nav_entities(html) == ["account", "deal", "product"]
    assert {"/dashboards/rep_board", "/dashboards/manager_board"} <= set(nav_links(html))


def test_labels_are_in_the_users_language(site):
    assert ">Deals</a>" in site.signed_in("anna").get("/").text
    hungarian = site.signed_in("mona").get("/").text
    assert ">Üzletek</a>" in hungarian and ">Csapat értékesítései</a>" in hungarian


def test_the_current_page_is_marked(site):
    html = site.signed_in("anna").get("/").text
    assert '<a href="/" aria-current="page">' in html


def test_build_navigation_directly(site):
    services = build_services(site.config, site.engine)
    anna = site.users.actor("anna")
    nav = build_navigation(site.config, services.permissions, anna, "hu", url_prefix="/crm")
    assert [(i.name, i.label, i.url) for i in nav.entities] == [
        ("account", "Ügyfelek", "/crm/records/account"), ("deal", "Üzletek", "/crm/records/deal")]
    assert [i.name for i in nav.dashboards] == ["rep_board"]


def nav_current(html: str) -> list[str]:
    nav = html[html.index('<nav id="site-nav"'):html.index("</nav>")]
    return re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', nav)


def test_the_kept_navigation_follows_the_current_page(site):
    """The navigation is rendered once per user, language and set of current links
    (templating._navigation_html): moving between pages moves the mark, never keeps an old one."""
    anna = site.signed_in("anna")
    for path, current in [("/", ["/"]), ("/records/account", ["/records/account"]),
                          ("/records/deal", ["/records/deal"]), ("/", ["/"]),
                          ("/dashboards/rep_board", ["/dashboards/rep_board"]),
                          ("/records/account", ["/records/account"])]:
        answer = anna.get(path)
        assert answer.status_code == 200, path
        assert nav_current(answer.text) == current, path
    root = site.signed_in("root")
    assert nav_current(root.get("/admin/config").text) == ["/admin/config"]
    assert nav_current(root.get("/").text) == ["/"]
    assert 'data-nav="config"' in root.get("/").text and 'data-nav="config"' not in anna.get("/").text
    hungarian = site.signed_in("mona").get("/records/deal").text
    assert nav_current(hungarian) == ["/records/deal"] and ">Üzletek</a>" in hungarian
    assert ">Deals</a>" in anna.get("/records/deal").text


def user_menu(html: str) -> str:
    return html[html.index('<header class="topbar">'):html.index("</header>")]


def test_the_kept_top_bar_has_each_request_s_token_and_address(site):
    """The top bar is rendered once per user, language and site (templating._topbar_html); the
    CSRF token of the session and the address of the page (the language form's way back) are
    put in per request, escaped as the template escapes them."""
    anna, other_anna = site.signed_in("anna"), site.signed_in("anna")
    for client in (anna, other_anna, anna):
        for path, shown in [("/", "/"), ("/records/deal?page=2&q=<b>", "/records/deal?page=2&amp;q=%3Cb%3E"),
                            ("/records/account", "/records/account")]:
            html = client.get(path).text
            menu = user_menu(html)
            token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
            assert menu.count(f'name="csrf_token" value="{token}"') == 2, path     # language + sign-out
            assert f'<input type="hidden" name="next" value="{shown}">' in menu, path
            assert ">Anna Adams</summary>" in menu
    assert user_menu(anna.get("/").text) != user_menu(other_anna.get("/").text)   # each its own token
    root, mona = site.signed_in("root").get("/").text, site.signed_in("mona").get("/").text
    assert ">Root Admin</summary>" in user_menu(root) and 'data-nav="deliveries"' in user_menu(root)
    assert 'data-nav="deliveries"' not in user_menu(anna.get("/").text)
    assert ">Mona Molnár</summary>" in user_menu(mona) and "Kijelentkezés" in user_menu(mona)
    assert site.client().get("/login").text.count('<header class="topbar">') == 1   # signed out: the brand
