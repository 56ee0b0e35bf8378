import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PATH, planToJSON, type BaseImageFacts } from '../../lib/dockerfile/index.js';
import { plan, planError, stepArgs } from './helpers.js';

describe('plan: ARG and ENV scopes', () => {
  it('uses global ARGs in FROM, with --build-arg overriding the default', () => {
    const text = 'ARG TAG=3.19\nARG IMG=alpine:${TAG}\nFROM ${IMG}\n';
    assert.equal(plan(text).stages[0]!.base, 'alpine:3.19');
    assert.equal(plan(text, { buildArgs: { TAG: 'edge' } }).stages[0]!.base, 'alpine:edge');
    assert.deepEqual(plan(text).metaArgs, { TAG: '3.19', IMG: 'alpine:3.19' });
  });

  it('hides a global ARG inside a stage until ARG NAME re-declares it', () => {
    const p = plan('ARG V=1\nFROM a\nWORKDIR /$V\nARG V\nWORKDIR /$V\n');
    assert.deepEqual(stepArgs(p), [['/'], ['V=1'], ['/1']]);
  });

  it('lets ENV shadow ARG, and --build-arg override ARG defaults', () => {
    const text = 'FROM a\nARG X=arg\nWORKDIR /$X\nENV X=env\nWORKDIR /$X\n';
    assert.deepEqual(stepArgs(plan(text)), [['X=arg'], ['/arg'], ['X=env'], ['/env']]);
    assert.deepEqual(stepArgs(plan(text, { buildArgs: { X: 'cli' } })), [['X=cli'], ['/cli'], ['X=env'], ['/env']]);
  });

  it('scopes ARG and ENV per stage; a stage built on a stage inherits its ENV', () => {
    const p = plan('FROM a AS one\nARG A=1\nENV E=e\nFROM a\nWORKDIR /$A$E\nFROM one\nWORKDIR /$A$E\n');
    assert.deepEqual(stepArgs(p, 1), [['/']]);
    assert.deepEqual(stepArgs(p, 2), [['/e']]);
  });

  it('expands ENV, LABEL, COPY, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL but not RUN or CMD', () => {
    const p = plan([
      'FROM a', 'ARG V=x', 'ENV P=/opt/$V Q="a b"', 'LABEL "k$V"="v $V"', 'COPY --chown=$V:$V src/$V /dst/$V', 'WORKDIR $P', 'USER $V',
      'EXPOSE ${PORT:-80}', 'VOLUME /data/$V', 'STOPSIGNAL SIG${V:+QUIT}', 'RUN echo $V', 'CMD echo $V',
    ].join('\n'));
    assert.deepEqual(stepArgs(p), [
      ['V=x'], ['P=/opt/x', 'Q=a b'], ['kx=v x'], ['src/x', '/dst/x'], ['/opt/x'], ['x'], ['80'], ['/data/x'], ['SIGQUIT'], ['echo $V'], ['echo $V'],
    ]);
    assert.equal(p.stages[0]!.steps[3]!.flags.chown, 'x:x');
  });

  it('gives RUN the ARG values in scope and the ENV, with ENV winning', () => {
    const p = plan('FROM a\nARG A=1 B=2\nENV B=env\nRUN x\n', { buildArgs: { HTTP_PROXY: 'http://proxy' } });
    const run = p.stages[0]!.steps[2]!;
    assert.deepEqual(run.argsInScope, { A: '1' });
    assert.deepEqual(run.env, { PATH: DEFAULT_PATH, B: 'env' });
    assert.deepEqual(run.proxy, { HTTP_PROXY: 'http://proxy' });
    assert.deepEqual(p.unusedBuildArgs, []);
  });

  it("expands a stage's words with its base image's ENV (given by the caller), which shadows an ARG of the same name", () => {
    const images: Record<string, BaseImageFacts> = {
      'node:20': { env: ['PATH=/usr/local/bin:/bin', 'NODE_VERSION=20.1', 'HOME_DIR=/home/node'], onBuild: [] },
    };
    const p = plan([
      'FROM node:20 AS app', 'ARG NODE_VERSION=18', 'ENV PATH=/app/node_modules/.bin:$PATH V=$NODE_VERSION', 'WORKDIR $HOME_DIR/app',
      'FROM app', 'WORKDIR $HOME_DIR/$V',
    ].join('\n'), { baseImage: (image) => images[image] });
    assert.deepEqual(stepArgs(p, 0), [['NODE_VERSION=18'], ['PATH=/app/node_modules/.bin:/usr/local/bin:/bin', 'V=20.1'], ['/home/node/app']]);
    assert.deepEqual(stepArgs(p, 1), [['/home/node/20.1']]);
    assert.deepEqual(p.stages[0]!.imageEnv, images['node:20']!.env);
    assert.deepEqual(p.stages[1]!.imageEnv, []);
  });

  it('gives scratch, and a base image without PATH, the default PATH (as BuildKit does), and keeps a base\'s own', () => {
    const images: Record<string, BaseImageFacts> = { 'nopath:1': { env: ['A=1'], onBuild: [] }, 'ownpath:1': { env: ['PATH=/own'], onBuild: [] } };
    const p = plan('FROM scratch\nENV PATH=/x:$PATH\nFROM nopath:1\nENV P=$PATH\nFROM ownpath:1\nENV P=$PATH\n', { baseImage: (image) => images[image] });
    assert.deepEqual(stepArgs(p, 0), [[`PATH=/x:${DEFAULT_PATH}`]]);
    assert.deepEqual(stepArgs(p, 1), [[`P=${DEFAULT_PATH}`]]);
    assert.deepEqual(stepArgs(p, 2), [['P=/own']]);
  });

  it('provides the platform ARGs in FROM and, once declared, in a stage', () => {
    const p = plan('FROM --platform=$BUILDPLATFORM img:$TARGETARCH\nARG TARGETOS\nWORKDIR /$TARGETOS/$TARGETARCH\n');
    assert.equal(p.stages[0]!.base, 'img:amd64');
    assert.equal(p.stages[0]!.platform, 'linux/amd64');
    assert.deepEqual(stepArgs(p)[1], ['/linux/']);
  });

  it('reports build args that no ARG consumes', () => {
    assert.deepEqual(plan('FROM a\nARG USED\n', { buildArgs: { USED: '1', TYPO: '2' } }).unusedBuildArgs, ['TYPO']);
  });

  it('expands COPY heredoc bodies unless the delimiter is quoted', () => {
    const p = plan('FROM a\nARG V=1\nCOPY <<EOF <<"RAW" /dst/\nv=$V "q"\nEOF\nv=$V\nRAW\n');
    assert.deepEqual(p.stages[0]!.steps[1]!.heredocs.map((h) => h.content), ['v=1 "q"\n', 'v=$V\n']);
    assert.deepEqual(stepArgs(p)[1], ['<<EOF', '<<"RAW"', '/dst/']);
  });

  it('turns a bad expansion into an error at the line', () => {
    const e = planError('FROM a\nARG V\nWORKDIR ${V:?set V with --build-arg}\n');
    assert.equal(e.line, 3);
    assert.match(e.message, /V: set V with --build-arg/);
  });

  it('refuses instructions other than ARG before the first FROM, and a file without FROM', () => {
    assert.match(planError('RUN x\nFROM a\n').message, /cannot come before the first FROM/);
    assert.match(planError('ARG A=1\n').message, /no FROM instruction/);
    assert.match(planError('ARG IMG\nFROM $IMG\n').message, /should not be blank/);
  });
});

describe('plan: stages and the DAG', () => {
  const multi = [
    'FROM busybox AS deps', 'RUN deps',
    'FROM busybox AS assets', 'RUN assets',
    'FROM deps AS build', 'COPY --from=assets /a /a', 'RUN build',
    'FROM busybox AS broken', 'RUN exit 1',
    'FROM busybox', 'COPY --from=build /out /out', 'COPY --from=nginx:1 /etc/nginx /etc/nginx',
  ].join('\n');

  it('finds dependencies through FROM, COPY --from and mounts; images are not stages', () => {
    const p = plan(multi);
    assert.deepEqual(p.stages.map((s) => s.dependsOn), [[], [], [0, 1], [], [2]]);
    assert.deepEqual(p.stages[2]!.base, { stage: 0 });
    assert.deepEqual(p.stages[4]!.steps[1]!.imageRefs, ['nginx:1']);
    const m = plan('FROM a AS cache\nFROM b\nRUN --mount=type=bind,from=cache,target=/c x\n');
    assert.deepEqual(m.stages[1]!.dependsOn, [0]);
    assert.equal(m.stages[1]!.steps[0]!.mounts[0]!.from, 'cache');
  });

  it('marks stages the target does not need and groups the rest in levels', () => {
    const p = plan(multi);
    assert.deepEqual(p.stages.map((s) => s.needed), [true, true, true, false, true]);
    assert.deepEqual(p.levels, [[0, 1], [2], [4]]);
    const t = plan(multi, { target: 'assets' });
    assert.deepEqual(t.stages.map((s) => s.needed), [false, true, false, false, false]);
    assert.deepEqual(t.levels, [[1]]);
    assert.equal(t.target, 'assets');
  });

  it('resolves --from by index and rejects an index at or after its own stage', () => {
    assert.deepEqual(plan('FROM a\nFROM b\nCOPY --from=0 /x /x\n').stages[1]!.dependsOn, [0]);
    const e = planError('FROM a\nCOPY --from=1 /x /x\nFROM b\n');
    assert.match(e.message, /not before this stage/);
    assert.equal(e.line, 2);
    assert.match(planError('FROM a\nCOPY --from=5 /x /x\n').message, /only 1 stage/);
  });

  it('rejects duplicate stage names and cycles, naming the lines', () => {
    const dup = planError('FROM a AS x\nFROM b AS X\n');
    assert.match(dup.message, /duplicate stage name "x" \(first defined on line 1\)/);
    assert.equal(dup.line, 2);
    const cycle = planError('FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n');
    assert.match(cycle.message, /circular dependency between stages: one \(line 1\) → two \(line 3\) → one \(line 1\)/);
    assert.match(planError('FROM a AS self\nCOPY --from=self /x /x\n').message, /cannot copy from itself/);
  });

  it('rejects an unknown target with a suggestion', () => {
    const e = planError(multi, { target: 'bulid' });
    assert.match(e.message, /target stage "bulid" could not be found \(did you mean "build"\?\)/);
  });

  it('fires a base stage\'s ONBUILD triggers in the stage built on it', () => {
    const p = plan('FROM a AS base\nONBUILD ARG V=7\nONBUILD WORKDIR /w$V\nFROM base\nRUN x\n');
    const steps = p.stages[1]!.steps;
    assert.deepEqual(steps.map((s) => [s.instruction, s.fromTrigger, s.args]), [
      ['ARG', true, ['V=7']], ['WORKDIR', true, ['/w7']], ['RUN', false, ['x']],
    ]);
  });

  it('fires a base image\'s ONBUILD triggers (given by the caller) at the FROM line, and rejects a bad one there', () => {
    const onBuild = (image: string) => (image === 'onbuild:1' ? ['ARG V=3', 'COPY . /src$V'] : image === 'broken:1' ? ['FROM x'] : undefined);
    const triggers = (image: string) => {
      const found = onBuild(image);
      return found && { env: [], onBuild: found };
    };
    const p = plan('FROM alpine\nRUN a\nFROM onbuild:1\nRUN b\n', { baseImage: triggers });
    assert.deepEqual(p.stages[0]!.steps.map((s) => s.args), [['a']]);
    assert.deepEqual(p.stages[1]!.steps.map((s) => [s.instruction, s.fromTrigger, s.line, s.args]), [
      ['ARG', true, 3, ['V=3']], ['COPY', true, 3, ['.', '/src3']], ['RUN', false, 4, ['b']],
    ]);
    assert.deepEqual(p.stages[1]!.imageTriggers, ['ARG V=3', 'COPY . /src$V']);
    const e = planError('FROM broken:1\n', { baseImage: triggers });
    assert.equal(e.line, 1);
    assert.match(e.message, /the base image's ONBUILD trigger "FROM x" is a FROM/);
  });

  it('keeps the public JSON shape', () => {
    const json = planToJSON(plan('FROM busybox:local AS deps\nCOPY ${SRC:-src} /app\nFROM deps\nRUN echo $HOME\n', { target: 'deps' }));
    assert.deepEqual(json, {
      target: 'deps',
      stages: [
        {
          index: 0, name: 'deps', base: 'busybox:local', needed: true, dependsOn: [],
          steps: [{ line: 2, instruction: 'COPY', original: 'COPY ${SRC:-src} /app', args: ['src', '/app'], flags: {} }],
        },
        {
          index: 1, name: null, base: { stage: 0 }, needed: false, dependsOn: [0],
          steps: [{ line: 4, instruction: 'RUN', original: 'RUN echo $HOME', args: ['echo $HOME'], flags: {} }],
        },
      ],
      levels: [[0]],
    });
  });
});
