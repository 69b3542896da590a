"""Packaging for custseg_nb. Every setting lives in settings.ini (nbdev 2 layout); edit there, not here."""
import shlex
from configparser import ConfigParser

import setuptools

config = ConfigParser(delimiters=["="], interpolation=None)
config.read("settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

expected = "lib_name version description keywords author author_email license status min_python audience language git_url".split()
missing = [o for o in expected if o not in cfg]
assert not missing, f"settings.ini is missing: {missing}"

licenses = {"apache2": "Apache-2.0"}  # SPDX identifiers
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable", "6 - Mature", "7 - Inactive"]


setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    keywords=cfg["keywords"],
    author=cfg["author"],
    author_email=cfg["author_email"],
    license=licenses.get(cfg["license"].lower(), cfg["license"]),
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"]) - 1],
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
        "Programming Language :: Python :: " + cfg["min_python"],
    ],
    url=cfg["git_url"],
    packages=setuptools.find_namespace_packages(include=[cfg["lib_name"], cfg["lib_name"] + ".*"]),
    include_package_data=True,
    package_data={cfg["lib_name"]: cfg.get("package_data", "").split()},
    install_requires=shlex.split(cfg.get("requirements", "")),
    extras_require={"dev": shlex.split(cfg.get("dev_requirements", ""))},
    python_requires=">=" + cfg["min_python"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    zip_safe=False,
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d'],
    },
)
