using System;
using System.Globalization;

namespace Rwkv7.Gen.Generator.Emit
{
    /// <summary>Literals for values the generator computes with, written the same on every machine and host.</summary>
    internal static class CSharpLiteral
    {
        /// <summary>
        /// A finite float as the shortest C# literal that reads back as exactly that float: the fewest significant digits
        /// (1 to 9) that round-trip, as a decimal (<c>0.60653067f</c>) or, where shorter, with an exponent
        /// (<c>1e-5f</c>, <c>64e-5f</c>). Digits come from invariant-culture formatting of the float's exact double value
        /// with a fixed count of digits, which every .NET the compiler runs on does alike (unlike the "R" format).
        /// </summary>
        public static string Float(float value)
        {
            if (float.IsNaN(value) || float.IsInfinity(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "only finite values have literals");
            }

            if (value == 0f)
            {
                return "0f";
            }

            for (int count = 1; count <= 9; count++)
            {
                // d.ddddE+xxx: count significant digits, then the power of ten of the first.
                string text = Math.Abs((double)value).ToString("E" + (count - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                if ((float)double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture) != Math.Abs(value))
                {
                    continue;
                }

                int e = text.IndexOf('E');
                string digits = text.Substring(0, e).Replace(".", "").TrimEnd('0');
                int exponent = int.Parse(text.Substring(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                string sign = value < 0 ? "-" : "";
                return sign + Shorter(Decimal(digits, exponent), Scientific(digits, exponent)) + "f";
            }

            throw new InvalidOperationException($"{value.ToString("R", CultureInfo.InvariantCulture)} does not round-trip in 9 digits");
        }

        /// <summary>digits × 10^(exponent − digits + 1) written out with a decimal point where needed.</summary>
        private static string Decimal(string digits, int exponent)
        {
            if (exponent < 0)
            {
                return "0." + new string('0', -exponent - 1) + digits;
            }

            return digits.Length <= exponent + 1
                ? digits + new string('0', exponent + 1 - digits.Length)
                : digits.Substring(0, exponent + 1) + "." + digits.Substring(exponent + 1);
        }

        /// <summary>The digits as an integer times a power of ten: <c>64e-5</c>.</summary>
        private static string Scientific(string digits, int exponent)
        {
            int power = exponent - digits.Length + 1;
            return power == 0 ? digits : digits + "e" + power.ToString(CultureInfo.InvariantCulture);
        }

        /// <summary>The shorter text; the decimal one when they are as long.</summary>
        private static string Shorter(string decimalText, string scientific) => scientific.Length < decimalText.Length ? scientific : decimalText;
    }
}
