"""optical_rerank: cross-lingual reranking for low-resource languages via optimal-transport distillation."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.strip() for line in (here / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#") and not line.startswith(("pytest", "hypothesis"))
]

setup(
    name="optical_rerank",
    version="0.1.0",
    description="OPTICAL: cross-lingual IR reranking distilled from an English teacher with optimal transport",
    long_description=(here / "README.md").read_text(encoding="utf-8") if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["optical_rerank", "optical_rerank.*"]),
    # shipped trained adapters and their model cards (optical_rerank/models/shipped/<name>/)
    package_data={"optical_rerank.models": ["shipped/*/*.safetensors", "shipped/*/*.json"]},
    # torch is installed first by scripts/setup.sh (CPU wheel, or your CUDA build); any 2.x >= 2.1 works.
    install_requires=["torch>=2.1", *requirements],
    extras_require={"test": ["pytest", "hypothesis"]},
    entry_points={"console_scripts": ["optical-rerank=optical_rerank.cli:console_main"]},
)
