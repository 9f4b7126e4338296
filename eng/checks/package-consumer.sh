#!/usr/bin/env bash
# Packs Rwkv7.Gen into a local folder, then builds and runs a throwaway project that uses it the way a user
# would: one PackageReference plus one shape file as AdditionalFiles. The program must pick the generated model
# for the tiny fixture and reproduce rwkv.cpp's expected logits.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures="$repo/../shared/fixtures"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version="0.1.0-ci.$(date +%s)"
dotnet pack "$repo/runtime/Rwkv7.Gen.Runtime" -c Release -o "$work/feed" -p:Version="$version" -nologo

mkdir -p "$work/consumer"
cat > "$work/consumer/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local" value="$work/feed" />
  </packageSources>
</configuration>
XML
cat > "$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Rwkv7.Gen" Version="$version" />
    <AdditionalFiles Include="tiny.rwkv7" />
  </ItemGroup>
</Project>
XML
cp "$repo/tests/Rwkv7.Gen.Tests/Shapes/tiny.rwkv7" "$work/consumer/tiny.rwkv7"
sed -i 's/^namespace .*/namespace = Consumer.Models/' "$work/consumer/tiny.rwkv7"
cat > "$work/consumer/Program.cs" <<'CS'
using System.Runtime.InteropServices;
using Rwkv7.Gen;

using RwkvModel model = RwkvModel.Load(args[0]);
Console.WriteLine($"engine: {model.EngineName}");
if (model.EngineName != "generated Consumer.Models.TinyModel")
{
    Console.WriteLine("expected the generated model");
    return 1;
}

float[] expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(args[1])).ToArray();
float[] logits = new float[model.Shape.Vocab];
model.Forward([34, 105, 110], model.CreateState(), logits);
double max = 0;
for (int i = 0; i < logits.Length; i++)
{
    max = Math.Max(max, Math.Abs(logits[i] - expected[i]));
}

Console.WriteLine($"max |logit - rwkv.cpp expected| = {max:E2}");
return max < 1e-4 ? 0 : 1;
CS

cd "$work/consumer"
dotnet restore --packages "$work/packages" -nologo
dotnet run -c Release --no-restore -- "$fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin" "$fixtures/tiny-7v0-834K/expected-logits-7v0-834K.bin"
