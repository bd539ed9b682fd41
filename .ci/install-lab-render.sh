#!/usr/bin/env bash
# JupyterLab's own Markdown pipeline under node (tests/lab_render), the oracle of the neutraliser's
# random test: @jupyterlab/rendermime and marked at the versions in its package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests/lab_render"

if ! command -v npm >/dev/null 2>&1; then
    echo "install-lab-render: node and npm are needed (the machine's Node.js 20)" >&2
    exit 1
fi
npm ci --no-audit --no-fund
echo "install-lab-render: $(node --version), marked $(node -p 'require("./node_modules/marked/package.json").version')"
