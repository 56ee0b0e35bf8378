import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintDockerfile, loadDockerfile, planBuild, type ContextFacts, type Finding } from '../../lib/dockerfile/index.js';

function lint(text: string, facts?: ContextFacts): Finding[] {
  const typed = loadDockerfile(text);
  return lintDockerfile(typed, planBuild(typed), facts);
}

const rules = (findings: Finding[]) => findings.map((f) => `${f.line}:${f.rule}`);
const facts = (names: string[], hasIgnoreFile = false): ContextFacts => ({ hasIgnoreFile, topLevelNames: new Set(names) });

describe('strata check rules', () => {
  it('finds nothing in a well-formed Dockerfile', () => {
    const text = 'FROM node:20\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nCMD ["node", "server.js"]\n';
    assert.deepEqual(lint(text, facts(['package.json', 'node_modules'], true)), []);
  });

  it('suggests copying the manifests present in the context before installing', () => {
    const [f] = lint('FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\n', facts(['package.json', 'package-lock.json', 'src'], true));
    assert.equal(f!.rule, 'copy-before-install');
    assert.equal(f!.line, 3);
    assert.equal(f!.fix, 'COPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .');
    const [y] = lint('FROM node:20\nCOPY . /app\nRUN cd /app && yarn install --frozen-lockfile\n', facts(['package.json', 'yarn.lock'], true));
    assert.equal(y!.fix.split('\n')[0], 'COPY package.json yarn.lock /app/');
    const [p] = lint('FROM python:3\nCOPY . .\nRUN pip install -r requirements/prod.txt\n', facts([], true));
    assert.equal(p!.fix.split('\n')[0], 'COPY requirements/prod.txt ./');
    const [g] = lint('FROM golang\nCOPY . .\nRUN go mod download\n', facts(['go.mod', 'go.sum'], true));
    assert.equal(g!.fix.split('\n')[0], 'COPY go.mod go.sum ./');
  });

  it('does not flag a COPY of the context after the install, or from another stage', () => {
    assert.deepEqual(lint('FROM a AS b\nFROM node\nCOPY --from=b . .\nRUN npm ci\n', facts([], true)), []);
  });

  it('flags apt-get update alone but not with install', () => {
    assert.deepEqual(rules(lint('FROM debian\nRUN apt-get update\nRUN apt-get update && apt-get install -y curl\n')), ['2:apt-get-update-alone']);
  });

  it('flags a missing .dockerignore only when the context holds node_modules or .git', () => {
    assert.deepEqual(rules(lint('FROM a\n', facts(['node_modules', '.git', 'src']))), ['1:missing-dockerignore']);
    assert.match(lint('FROM a\n', facts(['node_modules']))[0]!.fix, /node_modules/);
    assert.deepEqual(lint('FROM a\n', facts(['src'])), []);
    assert.deepEqual(lint('FROM a\n', facts(['node_modules'], true)), []);
  });

  it('flags ADD of plain local files, not archives or URLs', () => {
    const found = lint('FROM a\nADD conf /etc/conf\nADD app.tar.gz /opt\nADD https://example.com/x /x\n');
    assert.deepEqual(rules(found), ['2:add-instead-of-copy']);
    assert.equal(found[0]!.fix, 'COPY conf /etc/conf');
  });

  it('flags shell-form CMD and ENTRYPOINT with an exec-form fix', () => {
    const found = lint('FROM a\nENTRYPOINT ./run.sh --port 80\nCMD echo $HOME | tee x\n');
    assert.deepEqual(found.map((f) => f.fix), ['ENTRYPOINT ["./run.sh", "--port", "80"]', 'CMD ["/bin/sh", "-c", "echo $HOME | tee x"]']);
  });

  it('flags a variable used before its ARG, in expanded words and in RUN', () => {
    const found = lint('FROM a\nWORKDIR /$DIR\nRUN echo ${MODE}\nARG DIR=app MODE=prod\nRUN echo $MODE\n');
    assert.deepEqual(rules(found), ['2:arg-before-declaration', '3:arg-before-declaration']);
    assert.equal(found[0]!.fix, 'move `ARG DIR=app MODE=prod` above line 2');
  });

  it('flags an undefined variable in FROM at error level, not one with a default', () => {
    const found = lint('FROM node:${VERSION}\n');
    assert.deepEqual(found.map((f) => [f.rule, f.severity]), [['undefined-var-in-from', 'error']]);
    assert.deepEqual(lint('ARG VERSION=20\nFROM node:${VERSION}\nFROM node:${OTHER:-20}\n'), []);
  });

  it('notes MAINTAINER with the LABEL to use', () => {
    assert.equal(lint('FROM a\nMAINTAINER Jo <jo@example.com>\n')[0]!.fix, 'LABEL org.opencontainers.image.authors="Jo <jo@example.com>"');
  });
});
