import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDockerfile, parseGoDuration } from '../../lib/dockerfile/index.js';
import { plan, planError } from './helpers.js';

describe('instructions: flags', () => {
  it('rejects an unknown flag with a suggestion and its column', () => {
    const e = planError('FROM a\nCOPY --fron=b x y\n');
    assert.equal(e.message, 'unknown flag: --fron (did you mean --from?)');
    assert.deepEqual([e.line, e.column], [2, 6]);
    assert.match(e.hint ?? '', /--chown/);
  });

  it('rejects flags on instructions that take none', () => {
    const e = planError('FROM a\nWORKDIR --x=1 /app\n');
    assert.match(e.message, /unknown flag: --x/);
    assert.match(e.hint ?? '', /takes no flags/);
  });

  it('validates flag values', () => {
    assert.match(planError('FROM a\nCOPY --from x y\n').message, /missing a value on flag: --from/);
    assert.match(planError('FROM a\nCOPY --link=maybe x y\n').message, /expecting boolean value for flag link/);
    assert.match(planError('FROM a\nCOPY --from=a --from=b x y\n').message, /duplicate flag/);
    assert.match(planError('FROM a\nRUN --network=bridge x\n').message, /invalid --network/);
    assert.match(planError('FROM a\nRUN --security=root x\n').message, /invalid --security/);
    const port = planError('FROM a\nARG P=web\nEXPOSE 80 $P/tcp\n');
    assert.equal(port.line, 3);
    assert.match(port.message, /invalid port "web\/tcp" in EXPOSE/);
    assert.match(planError('FROM a\nEXPOSE 90-80\n').message, /invalid port "90-80"/);
    assert.match(planError('FROM a\nSTOPSIGNAL SIGNOPE\n').message, /invalid signal "SIGNOPE" in STOPSIGNAL/);
    assert.match(planError('FROM a\nSTOPSIGNAL 0\n').message, /invalid signal "0"/);
    for (const ok of ['SIGTERM', 'sigquit', 'INT', '9', 'RTMIN+3', 'SIGRTMAX-1']) assert.doesNotThrow(() => plan(`FROM a\nSTOPSIGNAL ${ok}\n`), ok);
    assert.match(planError('FROM a\nENV A="open\n').hint ?? '', /close the quote/);
    assert.match(planError('FROM a\nCOPY --chmod=rwx x y\n').message, /invalid --chmod/);
    assert.match(planError('FROM a\nADD --checksum=md5:1 http://x/y /y\n').message, /invalid --checksum/);
    assert.match(planError('FROM a\nHEALTHCHECK --interval=5 CMD x\n').message, /invalid --interval duration/);
    assert.match(planError('FROM a\nHEALTHCHECK --retries=-1 CMD x\n').message, /invalid --retries/);
    assert.match(planError('FROM a\nRUN --mount=type=nfs,target=/x x\n').message, /unsupported mount type/);
    assert.match(planError('FROM a\nRUN --mount=type=cache x\n').message, /requires a target/);
  });

  it('accepts every documented flag', () => {
    const typed = loadDockerfile([
      'FROM --platform=linux/amd64 a AS one',
      'RUN --mount=type=cache,target=/c,sharing=locked --mount=type=secret,id=tok --network=none --security=sandbox x',
      'COPY --from=one --chown=1:1 --chmod=0755 --link --parents --exclude=*.md --exclude=tmp a b /dst/',
      'ADD --chown=app --chmod=644 --link --keep-git-dir=true --checksum=sha256:abcd --exclude=x --unpack=false src /dst',
      'HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --start-interval=500ms --retries=3 CMD ["x"]',
    ].join('\n'));
    const copy = typed.instructions[2]!;
    assert.deepEqual(copy.flags, { from: 'one', chown: '1:1', chmod: '0755', link: true, parents: true, exclude: ['*.md', 'tmp'] });
  });

  it('parses Go durations', () => {
    assert.equal(parseGoDuration('1m30s'), 90_000);
    assert.equal(parseGoDuration('500ms'), 500);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('5'), undefined);
    assert.equal(parseGoDuration('1x'), undefined);
  });
});

describe('instructions: arguments', () => {
  it('checks FROM arity, AS and stage names', () => {
    assert.match(planError('FROM a b\n').message, /one or three arguments/);
    assert.match(planError('FROM a TO b\n').message, /expects "AS"/);
    assert.match(planError('FROM a AS 1st\n').message, /invalid name for build stage/);
  });

  it('checks COPY has a destination, SHELL is JSON, single-argument instructions', () => {
    assert.match(planError('FROM a\nCOPY onlyone\n').message, /at least two arguments/);
    assert.match(planError('FROM a\nSHELL /bin/bash -c\n').message, /JSON form/);
    assert.match(planError('FROM a\nSTOPSIGNAL\n').message, /exactly one argument/);
    assert.match(planError('FROM a\nVOLUME [""]\n').message, /empty string/);
  });

  it('checks HEALTHCHECK types', () => {
    assert.match(planError('FROM a\nHEALTHCHECK PING x\n').message, /Unknown type/);
    assert.match(planError('FROM a\nHEALTHCHECK --retries=1 NONE\n').message, /NONE takes no other arguments/);
    assert.match(planError('FROM a\nHEALTHCHECK CMD\n').message, /Missing command/);
    const typed = loadDockerfile('FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=30s CMD curl -f http://localhost/\n');
    const hc = typed.instructions[2]!;
    assert.ok(hc.kind === 'HEALTHCHECK' && hc.test !== 'NONE');
    assert.deepEqual(hc.kind === 'HEALTHCHECK' && hc.test, { form: 'shell', script: 'curl -f http://localhost/' });
    assert.deepEqual(hc.kind === 'HEALTHCHECK' && hc.options, { intervalMs: 30_000 });
  });

  it('restricts ONBUILD triggers', () => {
    assert.match(planError('FROM a\nONBUILD FROM b\n').message, /FROM isn't allowed as an ONBUILD trigger/);
    assert.match(planError('FROM a\nONBUILD ONBUILD RUN x\n').message, /ONBUILD isn't allowed/);
    assert.match(planError('FROM a\nONBUILD\n').message, /ONBUILD requires/);
    assert.match(planError('FROM a\nONBUILD RUNN x\n').message, /unknown instruction: RUNN/);
  });

  it('types every instruction', () => {
    const typed = loadDockerfile([
      'FROM a', 'RUN echo', 'CMD ["x"]', 'ENTRYPOINT x', 'SHELL ["/bin/bash", "-c"]', 'COPY a b', 'ADD a b',
      'ENV A=1', 'LABEL a=b', 'ARG X Y=2', 'WORKDIR /w', 'USER u', 'STOPSIGNAL SIGINT', 'MAINTAINER me',
      'EXPOSE 80/tcp', 'VOLUME /v', 'HEALTHCHECK NONE', 'ONBUILD RUN x',
    ].join('\n'));
    assert.deepEqual(typed.instructions.map((i) => i.kind), [
      'FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'COPY', 'ADD', 'ENV', 'LABEL', 'ARG', 'WORKDIR', 'USER', 'STOPSIGNAL',
      'MAINTAINER', 'EXPOSE', 'VOLUME', 'HEALTHCHECK', 'ONBUILD',
    ]);
    const arg = typed.instructions[9]!;
    assert.deepEqual(arg.kind === 'ARG' && arg.args, [{ name: 'X', value: undefined }, { name: 'Y', value: '2' }]);
    const entry = typed.instructions[3]!;
    assert.deepEqual(entry.kind === 'ENTRYPOINT' && entry.command, { form: 'shell', script: 'x' });
  });
});
