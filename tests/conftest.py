pytest_plugins = [
    "tests.fixtures.meili",
    "tests.fixtures.fakeweb",
    "tests.fixtures.app",
    "tests.e2e.browser",
]
