"""The workflow's steps as plain functions: each Snakemake script unpacks ``snakemake.*`` and calls one of them."""
